# The layering of sisa's library, held by the build (docs/design.md "Layers" draws it).
#
# Every layer's target compiles against one include root of its own in the build tree,
# build/layers/TARGET/, which holds symbolic links to exactly the header folders the layer may
# include (its own and those of the layers below it) and to the public headers (sisa/*.h) of
# those layers. A header of any other layer is not there, so including it fails to compile:
#
#   build/layers/sisa_io/base -> src/base        build/layers/sisa_io/sisa/error.h
#   build/layers/sisa_io/io   -> src/io          build/layers/sisa_io/sisa/version.h   (generated)
#                                                build/layers/sisa_io/sisa/dataset.h
#                                                build/layers/sisa_io/sisa/import.h
#
# The root is a PUBLIC include directory of the target: a layer above, a test or a benchmark that
# links the layer sees what the layer sees. Linking never widens a layer's view, because a layer
# may link only layers below it, whose roots are subsets of its own (checked by
# sisa_layers_check). Third-party headers are attached PRIVATE to their one layer's target.
# tests/check_headers.py compiles every header alone with its layer's flags and checks that each
# layer's flags reach no other header (CTest: headers, layering).

# sisa_layer(TARGET [INCLUDE_AS NAME DIR DIR] [BELOW LAYER...] [PUBLIC_HEADERS FILE...]
#            [THIRD_PARTY HEADER...])
#   INCLUDE_AS, DIR  the layer's headers are included as "NAME/x.h" and live in DIR (a layer
#                    without INCLUDE_AS has no headers of its own; DIR holds its sources)
#   BELOW            the layers directly below (their own BELOW comes with them)
#   PUBLIC_HEADERS   the public headers (include/sisa/*.h) that belong to this layer
#   THIRD_PARTY      the third-party headers only this layer includes (recorded for the test)
# TARGET must exist; the layers it names in BELOW must have been declared before.
function(sisa_layer target)
  cmake_parse_arguments(L "" "INCLUDE_AS;DIR" "BELOW;PUBLIC_HEADERS;THIRD_PARTY" ${ARGN})
  if(L_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "sisa_layer(${target}): unexpected arguments ${L_UNPARSED_ARGUMENTS}")
  endif()
  set(_folders "")
  set(_headers "")
  set(_below "")
  foreach(_b ${L_BELOW})
    get_property(_known GLOBAL PROPERTY SISA_LAYER_${_b}_FOLDERS SET)
    if(NOT _known)
      message(FATAL_ERROR "sisa_layer(${target}): ${_b} is not a layer declared before it")
    endif()
    get_property(_f GLOBAL PROPERTY SISA_LAYER_${_b}_FOLDERS)
    get_property(_h GLOBAL PROPERTY SISA_LAYER_${_b}_HEADERS)
    get_property(_l GLOBAL PROPERTY SISA_LAYER_${_b}_BELOW)
    list(APPEND _folders ${_f})
    list(APPEND _headers ${_h})
    list(APPEND _below ${_b} ${_l})
  endforeach()
  if(L_INCLUDE_AS)
    list(APPEND _folders "${L_INCLUDE_AS}=${L_DIR}")
  endif()
  list(APPEND _headers ${L_PUBLIC_HEADERS})
  list(REMOVE_DUPLICATES _folders)
  list(REMOVE_DUPLICATES _headers)
  list(REMOVE_DUPLICATES _below)

  # The include root, made anew at each configure so that a narrowed rule leaves no stale link.
  set(_root ${CMAKE_BINARY_DIR}/layers/${target})
  file(REMOVE_RECURSE ${_root})
  file(MAKE_DIRECTORY ${_root}/sisa)
  foreach(_pair ${_folders})
    string(REPLACE "=" ";" _pair "${_pair}")
    list(GET _pair 0 _name)
    list(GET _pair 1 _dir)
    file(CREATE_LINK ${_dir} ${_root}/${_name} SYMBOLIC)
  endforeach()
  foreach(_h ${_headers})
    get_filename_component(_n ${_h} NAME)
    file(CREATE_LINK ${_h} ${_root}/sisa/${_n} SYMBOLIC)
  endforeach()
  target_include_directories(${target} PUBLIC ${_root})

  set_property(GLOBAL PROPERTY SISA_LAYER_${target}_FOLDERS ${_folders})
  set_property(GLOBAL PROPERTY SISA_LAYER_${target}_HEADERS ${_headers})
  set_property(GLOBAL PROPERTY SISA_LAYER_${target}_BELOW ${_below})
  set_property(GLOBAL APPEND PROPERTY SISA_LAYER_LIST ${target})
  set_property(GLOBAL APPEND PROPERTY SISA_PUBLIC_HEADERS ${L_PUBLIC_HEADERS})

  # One line per layer for tests/check_headers.py (tab-separated; lists comma-separated).
  string(REPLACE ";" "," _fl "${_folders}")
  string(REPLACE ";" "," _hl "${_headers}")
  string(REPLACE ";" "," _tp "${L_THIRD_PARTY}")
  string(REPLACE ";" "," _bl "${_below}")
  set_property(GLOBAL APPEND PROPERTY SISA_LAYER_MANIFEST
               "layer\t${target}\t${L_INCLUDE_AS}\t${L_DIR}\t${_bl}\t${_fl}\t${_hl}\t${_tp}")
endfunction()

# After every layer is declared and linked: a layer links only layers below it (linking one
# would hand it that layer's include root), and the manifest for the test is written. PROGRAM is
# the command's target, whose sources in PROGRAM_DIR see only the public headers.
function(sisa_layers_check program program_dir)
  get_property(_layers GLOBAL PROPERTY SISA_LAYER_LIST)
  foreach(_t ${_layers})
    get_property(_below GLOBAL PROPERTY SISA_LAYER_${_t}_BELOW)
    get_target_property(_links ${_t} LINK_LIBRARIES)
    foreach(_l ${_links})
      if(_l IN_LIST _layers AND NOT _l IN_LIST _below)
        message(FATAL_ERROR "${_t} links ${_l}, which is not a layer below it "
                            "(docs/design.md \"Layers\")")
      endif()
    endforeach()
  endforeach()
  get_property(_manifest GLOBAL PROPERTY SISA_LAYER_MANIFEST)
  get_property(_public GLOBAL PROPERTY SISA_PUBLIC_HEADERS)
  string(REPLACE ";" "," _pl "${_public}")
  string(REPLACE ";" "\n" _manifest "${_manifest}")
  file(WRITE ${CMAKE_BINARY_DIR}/layers/layers.tsv
       "# written by cmake/SisaLayers.cmake\n${_manifest}\n"
       "public\t${PROJECT_SOURCE_DIR}/include\t${CMAKE_BINARY_DIR}/generated\t${_pl}\n"
       "program\t${program}\t${program_dir}\n")
endfunction()
